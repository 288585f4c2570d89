package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

var errUsage = errors.New("usage")

func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	_ = ctx
	_ = env
	_ = stdin
	_ = stdout
	_ = stderr
	if len(args) == 0 {
		return fmt.Errorf("%w: vigil COMMAND", errUsage)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}
