// Package testenv holds what Vigil's tests share: the real tools they drive
// (the ffmpeg CLI), embedded servers on loopback, and the benign stand-in
// images they treat as known material. Only tests import it.
package testenv
