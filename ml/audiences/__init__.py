"""Marketing audiences: rules in config/audiences.yaml over the customer marts, with control groups."""
