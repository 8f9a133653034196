"""Images as the engine sees them: checks, channels, lazy frames and synthetic samples."""
