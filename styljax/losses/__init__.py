"""Losses on VGG features: content, Gram style, TV, MRF, and the perceptual objective of the feed-forward nets."""
