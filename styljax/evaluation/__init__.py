"""Numbers for judging a stylization against its photo and its painting."""
