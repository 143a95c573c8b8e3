"""litproj."""
