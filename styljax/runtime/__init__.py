"""How programs run on devices: sharding, tiling, buckets, compile cache, XLA options, Ray."""
