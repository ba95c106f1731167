"""lumbar: a DVC pipeline that grades degenerative lumbar spine conditions on MRI (RSNA 2024)."""
__version__ = "0.2.0"
