"""The command line: the only code that prints. Also the demo and the text views of a policy."""
