// Package e2e holds end-to-end tests that need more than the Go toolchain:
// a headless Chromium and Node.js with the real @statsig/js-client. It is a
// module of its own so that users of statsigmw never download what these
// tests need.
package e2e
