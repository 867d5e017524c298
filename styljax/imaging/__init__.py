"""Image processing on arrays: colour spaces, edge-aware filters, window sums, contact sheets."""
