"""Reusable widgets shared by the area screens."""
