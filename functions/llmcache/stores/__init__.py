"""Cache tiers behind one interface. Only this package touches boto3, pynamodb or redis."""
