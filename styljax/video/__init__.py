"""Video plumbing: optical flow, synthetic clips with exact flow, frame streams in and out."""
