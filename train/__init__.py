"""Training programs and their configs."""
