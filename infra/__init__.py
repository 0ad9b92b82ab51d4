"""The llmcache CDK app: typed config, thin stacks, one construct per capability."""
