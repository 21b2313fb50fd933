"""Clients we did not write, driven against the sandboxes through their public calls."""
