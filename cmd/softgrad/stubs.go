package main

import "io"

func runCheck(args []string, stdout, stderr io.Writer) error { return nil }
func runTrain(args []string, stdout, stderr io.Writer) error { return nil }
