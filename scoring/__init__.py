"""What a solution is: per algorithm, an integer score that is a pure function of its inputs."""
