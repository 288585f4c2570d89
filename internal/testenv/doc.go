// Package testenv holds what Vigil's tests share: the real tools they drive
// (the ffmpeg CLI), the benign stand-in images they treat as known material,
// and the shared conformance data they read in place. Only tests import it.
//
// The conformance data (Meta's public PDQ and vPDQ test images, videos and
// expected hashes) is not part of the repository: it lives beside it, at
// <module root>/../shared/anchors. A test that needs it fails when CI=true
// and the data is missing, so a CI run can never pass by skipping, and skips
// otherwise, so a developer without the data can still run the rest.
//
// This package imports nothing from the project so that every package's
// tests can use it.
package testenv
