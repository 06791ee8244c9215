package starlarklib

import (
	"math"
	"math/big"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/protocol"
)

// A fastExpr is a function whose body is one pure expression of its
// parameters and constants (arithmetic, comparisons, not/and/or,
// conditionals): `lambda x: x*x`, `def f(x, y): return x + 2*y`. A map
// chunk evaluates it in Go, applying the same operations as the
// interpreter (starlark.Binary, Compare, Unary, Truth) without a
// Starlark frame per element: the frame, its locals and the deferred
// calls are most of a small function's call (see mapChunk for steps,
// cancellation and errors).
type fastExpr struct {
	nparams int
	eval    fastNode
	steps   uint64 // about the interpreter's instructions for one call
}

// A fastNode evaluates a compiled expression on the call's arguments.
type fastNode func(e *fastEnv, args starlark.Tuple) (starlark.Value, error)

// fastEnv is what a map chunk's fast calls share: the slabs that ints
// beyond int32 made by +, - and * come from (as decoded ints do: see
// intSlab), instead of two allocations each.
type fastEnv struct{ ints intSlab }

// intResult is x op y for ints within int64 when the result is too,
// made from the slabs; ok is false otherwise (starlark.Binary then
// computes it). Starlark's own result has the same value and
// representation.
func (e *fastEnv) intResult(op syntax.Token, x, y starlark.Value) (_ starlark.Value, ok bool) {
	xi, ok1 := x.(starlark.Int)
	yi, ok2 := y.(starlark.Int)
	if !ok1 || !ok2 {
		return nil, false
	}
	a, ok1 := xi.Int64()
	b, ok2 := yi.Int64()
	if !ok1 || !ok2 {
		return nil, false
	}
	var z int64
	switch op {
	case syntax.PLUS:
		z = a + b
		if (a^z)&(b^z) < 0 {
			return nil, false
		}
	case syntax.MINUS:
		z = a - b
		if (a^b)&(a^z) < 0 {
			return nil, false
		}
	default: // STAR
		z = a * b
		if a != 0 && (z/a != b || (a == -1 && b == math.MinInt64)) {
			return nil, false
		}
	}
	if z >= math.MinInt32 && z <= math.MaxInt32 || !slabInts {
		return starlark.MakeInt64(z), true
	}
	if z < 0 {
		return e.ints.make(true, uint64(-z), intSlabLen), true
	}
	return e.ints.make(false, uint64(z), intSlabLen), true
}

// compileFast returns the fastExpr of f, or nil when f has free
// variables or defaults, or its body is anything else (names other than
// its parameters, calls, indexing, attributes, containers).
func compileFast(f *protocol.Function) *fastExpr {
	if len(f.Free) > 0 || len(f.Defaults) > 0 {
		return nil
	}
	var params []syntax.Expr
	var body syntax.Expr
	if f.Name == "lambda" {
		x, err := FileOptions().ParseExpr("<fast>", f.Source, 0)
		if err != nil {
			return nil
		}
		l, ok := x.(*syntax.LambdaExpr)
		if !ok {
			return nil
		}
		params, body = l.Params, l.Body
	} else {
		file, err := FileOptions().Parse("<fast>", f.Source, 0)
		if err != nil || len(file.Stmts) != 1 {
			return nil
		}
		def, ok := file.Stmts[0].(*syntax.DefStmt)
		if !ok || len(def.Body) != 1 {
			return nil
		}
		ret, ok := def.Body[0].(*syntax.ReturnStmt)
		if !ok || ret.Result == nil {
			return nil
		}
		params, body = def.Params, ret.Result
	}
	index := map[string]int{}
	for i, p := range params {
		id, ok := p.(*syntax.Ident)
		if !ok {
			return nil // a default, *args or **kwargs
		}
		index[id.Name] = i
	}
	eval, n, ok := fastCompile(body, index)
	if !ok {
		return nil
	}
	return &fastExpr{nparams: len(params), eval: eval, steps: uint64(n + 1)}
}

// fastCompile compiles e; n counts its nodes.
func fastCompile(e syntax.Expr, params map[string]int) (eval fastNode, n int, ok bool) {
	switch e := e.(type) {
	case *syntax.Ident:
		i, ok := params[e.Name]
		if !ok {
			return nil, 0, false
		}
		return func(_ *fastEnv, a starlark.Tuple) (starlark.Value, error) { return a[i], nil }, 1, true
	case *syntax.Literal:
		var v starlark.Value
		switch x := e.Value.(type) {
		case int64:
			v = starlark.MakeInt64(x)
		case *big.Int:
			v = starlark.MakeBigInt(x)
		case float64:
			v = starlark.Float(x)
		case string:
			if e.Token == syntax.BYTES {
				v = starlark.Bytes(x)
			} else {
				v = starlark.String(x)
			}
		default:
			return nil, 0, false
		}
		return func(*fastEnv, starlark.Tuple) (starlark.Value, error) { return v, nil }, 1, true
	case *syntax.ParenExpr:
		return fastCompile(e.X, params)
	case *syntax.UnaryExpr:
		return fastUnary(e, params)
	case *syntax.BinaryExpr:
		return fastBinary(e, params)
	case *syntax.CondExpr:
		c, n1, ok1 := fastCompile(e.Cond, params)
		t, n2, ok2 := fastCompile(e.True, params)
		f, n3, ok3 := fastCompile(e.False, params)
		if !ok1 || !ok2 || !ok3 {
			return nil, 0, false
		}
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			cv, err := c(e, a)
			if err != nil {
				return nil, err
			}
			if cv.Truth() {
				return t(e, a)
			}
			return f(e, a)
		}, n1 + n2 + n3 + 2, true
	}
	return nil, 0, false
}

func fastUnary(e *syntax.UnaryExpr, params map[string]int) (fastNode, int, bool) {
	if e.X == nil {
		return nil, 0, false
	}
	x, n, ok := fastCompile(e.X, params)
	if !ok {
		return nil, 0, false
	}
	switch op := e.Op; op {
	case syntax.NOT:
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			v, err := x(e, a)
			if err != nil {
				return nil, err
			}
			return !v.Truth(), nil
		}, n + 1, true
	case syntax.MINUS, syntax.PLUS, syntax.TILDE:
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			v, err := x(e, a)
			if err != nil {
				return nil, err
			}
			return starlark.Unary(op, v)
		}, n + 1, true
	}
	return nil, 0, false
}

func fastBinary(e *syntax.BinaryExpr, params map[string]int) (fastNode, int, bool) {
	x, n1, ok1 := fastCompile(e.X, params)
	y, n2, ok2 := fastCompile(e.Y, params)
	if !ok1 || !ok2 {
		return nil, 0, false
	}
	n := n1 + n2 + 1
	switch op := e.Op; op {
	case syntax.AND, syntax.OR:
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			xv, err := x(e, a)
			if err != nil || xv.Truth() != (op == syntax.AND) {
				return xv, err // and: a false x; or: a true x
			}
			return y(e, a)
		}, n + 1, true
	case syntax.EQL, syntax.NEQ, syntax.LT, syntax.GT, syntax.LE, syntax.GE:
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			xv, yv, err := both(e, x, y, a)
			if err != nil {
				return nil, err
			}
			ok, err := starlark.Compare(op, xv, yv)
			return starlark.Bool(ok), err
		}, n, true
	case syntax.PLUS, syntax.MINUS, syntax.STAR:
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			xv, yv, err := both(e, x, y, a)
			if err != nil {
				return nil, err
			}
			if z, ok := e.intResult(op, xv, yv); ok {
				return z, nil
			}
			return starlark.Binary(op, xv, yv)
		}, n, true
	case syntax.SLASH, syntax.SLASHSLASH, syntax.PERCENT,
		syntax.AMP, syntax.PIPE, syntax.CIRCUMFLEX, syntax.LTLT, syntax.GTGT, syntax.IN, syntax.NOT_IN:
		return func(e *fastEnv, a starlark.Tuple) (starlark.Value, error) {
			xv, yv, err := both(e, x, y, a)
			if err != nil {
				return nil, err
			}
			return starlark.Binary(op, xv, yv)
		}, n, true
	}
	return nil, 0, false
}

// both evaluates x then y.
func both(e *fastEnv, x, y fastNode, a starlark.Tuple) (starlark.Value, starlark.Value, error) {
	xv, err := x(e, a)
	if err != nil {
		return nil, nil, err
	}
	yv, err := y(e, a)
	return xv, yv, err
}

// fastFns remembers the fastExprs of the last functions built, for
// mapChunk to find by the function value (a map task builds its function
// just before the chunk runs).
var fastFns struct {
	sync.Mutex
	ring [8]struct {
		fn *starlark.Function
		x  *fastExpr
	}
	next int
}

// rememberFast records x as the fast form of fn.
func rememberFast(fn *starlark.Function, x *fastExpr) {
	fastFns.Lock()
	defer fastFns.Unlock()
	fastFns.ring[fastFns.next].fn, fastFns.ring[fastFns.next].x = fn, x
	fastFns.next = (fastFns.next + 1) % len(fastFns.ring)
}

// fastOf returns the fast form of fn, or nil.
func fastOf(fn *starlark.Function) *fastExpr {
	fastFns.Lock()
	defer fastFns.Unlock()
	for _, e := range fastFns.ring {
		if e.fn == fn {
			return e.x
		}
	}
	return nil
}
