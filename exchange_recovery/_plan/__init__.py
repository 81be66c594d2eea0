"""Restart plans and the runner and simulator that drive a controller through them."""
