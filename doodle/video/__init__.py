"""Painting clips: reading and writing video, optical flow, and the frame-by-frame painting loop."""
