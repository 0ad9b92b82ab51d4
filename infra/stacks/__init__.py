"""Thin stacks that compose the constructs, tag them and run cdk-nag."""
