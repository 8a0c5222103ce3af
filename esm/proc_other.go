//go:build !unix

package esm

import "os/exec"

// ownProcessGroup does nothing where there are no Unix process groups.
func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup kills cmd's process (its children may outlive it).
func killProcessGroup(cmd *exec.Cmd) { cmd.Process.Kill() }
