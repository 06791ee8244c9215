// Package spectest runs go.starlark.net's own spec tests
// (starlark/testdata/*.star, read from the module cache at test time)
// through every place pxsh runs code, and checks that each chunk that
// passes under plain starlark-go with pxsh's dialect options passes in
// pxsh. It has only tests.
package spectest
