"""Pulumi components of the storage platform, one concern per module."""
