"""One thin module per Lambda function: decorators and one call into the package's logic."""
