"""Topics and subscriptions: webhooks (signed), Slack, email and queues, with delivery logs."""
