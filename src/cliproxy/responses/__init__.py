"""The Responses format: the one internal format every dialect translates to and from."""
