"""One module per flow step; the ordered list lives in asicflow.registry."""
