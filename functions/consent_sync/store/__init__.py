"""AWS access: DynamoDB, S3, SQS, EventBridge and Secrets Manager. Nothing else in the package uses boto3."""
