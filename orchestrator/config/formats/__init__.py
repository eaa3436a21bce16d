"""Readers of foreign recipe formats: each turns one file into a native recipe mapping plus notes."""
