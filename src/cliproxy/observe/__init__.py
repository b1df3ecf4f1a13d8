"""What the proxy tells its operator: logs, metrics, request logs and usage history."""
