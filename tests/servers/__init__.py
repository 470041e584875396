"""Real loopback servers (llama.cpp and deliberately failing endpoints) for the test-suite."""
