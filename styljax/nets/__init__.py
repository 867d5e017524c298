"""Networks: the VGG loss network and the feed-forward stylization nets, each a pure function of (params, inputs)."""
