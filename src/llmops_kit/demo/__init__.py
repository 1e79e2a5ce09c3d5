"""The offline demo: a scripted support agent run through every lifecycle outcome."""
