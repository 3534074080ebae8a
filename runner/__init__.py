"""Runner for the AWS Batch pipeline platform."""

__version__ = "0.1.0"
