"""Placeholder: filled by the [zoo] work in progress."""
