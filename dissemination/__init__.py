"""Dissemination: reading-access policy and the watermarked, sealed dissemination copies (DIP)."""
