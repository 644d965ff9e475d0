"""Engine services: each public function is one unit of work for the web, CLI and tests."""
