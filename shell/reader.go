package shell

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chzyer/readline"
)

// ErrInterrupt is returned by a LineReader when the user pressed Ctrl-C
// while typing: the current input is discarded.
var ErrInterrupt = errors.New("keyboard interrupt")

// LineReader is the shell's line editor: the REPL knows nothing else of
// it. ReadLine shows prompt and returns one line without its newline; it
// returns io.EOF at end of input (Ctrl-D) and ErrInterrupt on Ctrl-C.
// AddHistory records one entry, which may span several lines.
type LineReader interface {
	ReadLine(prompt string) (string, error)
	AddHistory(entry string)
	Close() error
}

// Completer proposes completions for the text before the cursor: it
// returns the candidates (whole words) and the length of the word they
// replace.
type Completer func(before string) (candidates []string, wordLen int)

// plainReader reads lines from a non-terminal without prompts or editing.
type plainReader struct {
	sc *bufio.Scanner
}

func newPlainReader(r io.Reader) *plainReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64<<20)
	return &plainReader{sc: sc}
}

func (p *plainReader) ReadLine(string) (string, error) {
	if !p.sc.Scan() {
		if err := p.sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return strings.TrimSuffix(p.sc.Text(), "\r"), nil
}

func (p *plainReader) AddHistory(string) {}
func (p *plainReader) Close() error      { return nil }

// editReader is the terminal line editor on chzyer/readline, with its own
// history file so that a multi-line entry stays one entry.
type editReader struct {
	rl       *readline.Instance
	histPath string
}

// historyLimit bounds the entries kept in the history file.
const historyLimit = 1000

func newEditReader(stdin *os.File, stdout, stderr io.Writer, histPath string, complete Completer) (*editReader, error) {
	fd := int(stdin.Fd())
	var saved *readline.State
	cfg := &readline.Config{
		Prompt:                 ">>> ",
		DisableAutoSaveHistory: true,
		HistoryLimit:           historyLimit,
		Stdin:                  eofAsCtrlD{stdin},
		FuncIsTerminal:         func() bool { return true },
		// readline's raw mode keeps output processing (OPOST), so that
		// its newline after Enter also returns the carriage.
		FuncMakeRaw: func() error {
			st, err := readline.MakeRaw(fd)
			saved = st
			return err
		},
		FuncExitRaw: func() error {
			if saved == nil {
				return nil
			}
			return readline.Restore(fd, saved)
		},
		Stdout:          stdout,
		Stderr:          stderr,
		InterruptPrompt: "^C",
		EOFPrompt:       "",
	}
	if complete != nil {
		cfg.AutoComplete = completerAdapter(complete)
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return nil, err
	}
	r := &editReader{rl: rl, histPath: histPath}
	for _, e := range loadHistory(histPath) {
		rl.SaveHistory(e)
	}
	return r, nil
}

func (r *editReader) ReadLine(prompt string) (string, error) {
	r.rl.SetPrompt(prompt)
	line, err := r.rl.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return "", ErrInterrupt
	}
	return line, err
}

func (r *editReader) AddHistory(entry string) {
	if strings.TrimSpace(entry) == "" {
		return
	}
	r.rl.SaveHistory(entry)
	appendHistory(r.histPath, entry)
}

// Close closes the line editor and restores the terminal. Readline's
// Close waits for its input goroutine, which can be blocked in a read of
// the terminal in cooked mode until another key comes (Ctrl-D typed
// after a command's output, before the next prompt, left it reading);
// so the wait is bounded by closeWait, after which the terminal is
// restored here and the goroutine is left to the process's exit.
func (r *editReader) Close() error {
	return closeWithin(r.rl.Close, r.rl.Config.FuncExitRaw, closeWait)
}

// closeWait bounds how long Close waits for the line editor.
const closeWait = 200 * time.Millisecond

// closeWithin runs closeFn and waits at most d for it; when it has not
// returned by then, it runs restore instead and returns.
func closeWithin(closeFn, restore func() error, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return restore()
	}
}

// eofAsCtrlD turns end of input on the terminal (Ctrl-D typed while a
// command ran, when the terminal was not in raw mode) into a Ctrl-D
// character: readline's input loop stops for good at the first end of
// input and then spins.
type eofAsCtrlD struct{ f *os.File }

func (e eofAsCtrlD) Read(p []byte) (int, error) {
	n, err := e.f.Read(p)
	if n == 0 && errors.Is(err, io.EOF) && len(p) > 0 {
		p[0] = 4
		return 1, nil
	}
	return n, err
}

func (e eofAsCtrlD) Close() error { return nil }

// completerAdapter turns a Completer into readline's AutoCompleter, which
// wants the suffixes to insert.
type completerAdapter Completer

func (c completerAdapter) Do(line []rune, pos int) ([][]rune, int) {
	cands, n := Completer(c)(string(line[:pos]))
	out := make([][]rune, 0, len(cands))
	for _, x := range cands {
		r := []rune(x)
		if n <= len(r) {
			out = append(out, r[n:])
		}
	}
	return out, n
}

// History file format: one entry per line; an entry that spans several
// lines (or starts with a double quote) is written as a Go-quoted string.

func encodeHistory(e string) string {
	if strings.ContainsAny(e, "\n\r") || strings.HasPrefix(e, `"`) {
		return strconv.Quote(e)
	}
	return e
}

func decodeHistory(line string) string {
	if strings.HasPrefix(line, `"`) {
		if s, err := strconv.Unquote(line); err == nil {
			return s
		}
	}
	return line
}

// loadHistory reads the last historyLimit entries of a history file.
func loadHistory(path string) []string {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, decodeHistory(l))
		}
	}
	if len(out) > historyLimit {
		out = out[len(out)-historyLimit:]
	}
	return out
}

// appendHistory adds an entry to a history file, trimming it when it has
// grown well past the limit.
func appendHistory(path, entry string) {
	if path == "" {
		return
	}
	os.MkdirAll(filepath.Dir(path), 0o700)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	f.WriteString(encodeHistory(entry) + "\n")
	f.Close()
	b, err := os.ReadFile(path)
	if err != nil || strings.Count(string(b), "\n") < 2*historyLimit {
		return
	}
	var nb strings.Builder
	for _, e := range loadHistory(path) {
		nb.WriteString(encodeHistory(e) + "\n")
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, []byte(nb.String()), 0o600) == nil {
		os.Rename(tmp, path)
	}
}
