package kernel

import (
	"encoding/base64"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// MimeBundler is a value that knows how a notebook shows it: MimeBundle
// maps mime types to data, a string (text, SVG, HTML) or []byte (PNG,
// JPEG: sent base64-encoded). The kernel shows such a value richly when
// it ends a cell or is passed to display(); any package's value type can
// implement it without importing this one.
type MimeBundler interface {
	MimeBundle() map[string]any
}

// mimeBundle is the data of a value's execute_result or display_data:
// always text/plain (its repr), and what MimeBundle adds.
func mimeBundle(v starlark.Value) map[string]any {
	out := map[string]any{"text/plain": v.String()}
	if mb, ok := v.(MimeBundler); ok {
		for typ, data := range mb.MimeBundle() {
			out[typ] = encodeMime(data)
		}
	}
	return out
}

// encodeMime turns binary data into base64, as Jupyter wants it.
func encodeMime(data any) any {
	if b, ok := data.([]byte); ok {
		return base64.StdEncoding.EncodeToString(b)
	}
	return data
}

// mimeKwargs are display()'s keyword arguments and their mime types.
var mimeKwargs = []struct{ kw, typ string }{
	{"image_png", "image/png"}, {"image_jpeg", "image/jpeg"}, {"image_svg", "image/svg+xml"},
	{"html", "text/html"}, {"markdown", "text/markdown"}, {"latex", "text/latex"}, {"text", "text/plain"},
}

// displayBuiltins are the kernel's extra builtins: display, display_png,
// display_svg, Image.
func (k *Kernel) displayBuiltins() starlark.StringDict {
	return starlark.StringDict{
		"display":     starlark.NewBuiltin("display", k.displayFn),
		"display_png": starlark.NewBuiltin("display_png", k.displayAs("image/png")),
		"display_svg": starlark.NewBuiltin("display_svg", k.displayAs("image/svg+xml")),
		"Image":       starlark.NewBuiltin("Image", newImage),
	}
}

// displayFn is display(*values, image_png=, image_jpeg=, image_svg=,
// html=, markdown=, latex=, text=): each value is shown as it would end a
// cell; the keyword arguments make one more output of those mime types.
func (k *Kernel) displayFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	bundle := map[string]any{}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		typ := ""
		for _, m := range mimeKwargs {
			if m.kw == name {
				typ = m.typ
			}
		}
		if typ == "" {
			return nil, fmt.Errorf("%s: unexpected keyword argument %s", b.Name(), name)
		}
		if kv[1] == starlark.None {
			continue
		}
		data, err := mimeData(b.Name(), typ, kv[1])
		if err != nil {
			return nil, err
		}
		bundle[typ] = data
	}
	for _, v := range args {
		k.display(mimeBundle(v))
	}
	if len(bundle) > 0 {
		if _, ok := bundle["text/plain"]; !ok {
			bundle["text/plain"] = "<" + strings.Join(bundleTypes(bundle), ", ") + ">"
		}
		k.display(bundle)
	}
	return starlark.None, nil
}

// displayAs returns display_png / display_svg: show one argument as typ.
func (k *Kernel) displayAs(typ string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
			return nil, err
		}
		data, err := mimeData(b.Name(), typ, v)
		if err != nil {
			return nil, err
		}
		k.display(map[string]any{typ: data, "text/plain": "<" + typ + ">"})
		return starlark.None, nil
	}
}

// mimeData checks and encodes a display argument: bytes or a string for
// images (a string is taken as the raw bytes), a string for text types.
func mimeData(fn, typ string, v starlark.Value) (any, error) {
	switch v := v.(type) {
	case starlark.Bytes:
		if strings.HasPrefix(typ, "image/") && typ != "image/svg+xml" {
			return encodeMime([]byte(v)), nil
		}
		return string(v), nil
	case starlark.String:
		if strings.HasPrefix(typ, "image/") && typ != "image/svg+xml" {
			return encodeMime([]byte(v)), nil
		}
		return string(v), nil
	}
	return nil, fmt.Errorf("%s: %s wants bytes or a string, got %s", fn, typ, v.Type())
}

func bundleTypes(bundle map[string]any) []string {
	var out []string
	for _, m := range mimeKwargs {
		if _, ok := bundle[m.typ]; ok {
			out = append(out, m.typ)
		}
	}
	return out
}

// display publishes a display_data message after the output written so
// far, as a child of the running request.
func (k *Kernel) display(bundle map[string]any) {
	k.streams.flush()
	k.streams.mu.Lock()
	parent := k.streams.parent
	k.streams.mu.Unlock()
	k.publishRaw(parent, "display_data", map[string]any{"data": bundle, "metadata": map[string]any{}, "transient": map[string]any{}})
}

// Image is an image value (Image(data, format="png")): it shows as the
// picture when it ends a cell or is passed to display().
type Image struct {
	Format string // png, jpeg or svg
	Data   []byte
}

var _ MimeBundler = (*Image)(nil)

func newImage(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var data starlark.Value
	format := "png"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &data, "format?", &format); err != nil {
		return nil, err
	}
	if format != "png" && format != "jpeg" && format != "svg" {
		return nil, fmt.Errorf("Image: format %q: want png, jpeg or svg", format)
	}
	switch d := data.(type) {
	case starlark.Bytes:
		return &Image{Format: format, Data: []byte(d)}, nil
	case starlark.String:
		return &Image{Format: format, Data: []byte(d)}, nil
	}
	return nil, fmt.Errorf("Image: data wants bytes or a string, got %s", data.Type())
}

// MimeBundle implements MimeBundler.
func (im *Image) MimeBundle() map[string]any {
	if im.Format == "svg" {
		return map[string]any{"image/svg+xml": string(im.Data)}
	}
	return map[string]any{"image/" + im.Format: im.Data}
}

// String implements starlark.Value.
func (im *Image) String() string { return fmt.Sprintf("<Image %s, %d bytes>", im.Format, len(im.Data)) }

// Type implements starlark.Value.
func (im *Image) Type() string { return "Image" }

// Freeze implements starlark.Value.
func (im *Image) Freeze() {}

// Truth implements starlark.Value.
func (im *Image) Truth() starlark.Bool { return len(im.Data) > 0 }

// Hash implements starlark.Value.
func (im *Image) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: Image") }
