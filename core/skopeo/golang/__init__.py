"""Go compatibility: the texts and formats of Go's standard library that users
see through skopeo (JSON error texts, ``--format`` templates, durations,
strconv errors, OS error strings, logrus lines, time formatting, RE2 regexp errors).

Each module ports one Go package's observable behaviour, so everything that
must match Go byte for byte lives here and nowhere else."""
