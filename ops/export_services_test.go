package ops

// Internals of apt.packages and pip.venv, for the tests in package ops_test.
var CompareDebVersions = compareDebVersions

// PySatisfies reports whether an installed version satisfies a pip.venv
// package specifier.
func PySatisfies(spec, installed string) (bool, error) {
	req, err := parsePyRequirement(spec)
	if err != nil {
		return false, err
	}
	return req.satisfiedBy(installed), nil
}
