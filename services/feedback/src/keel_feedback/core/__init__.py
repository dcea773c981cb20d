"""Transport-free feedback logic."""
