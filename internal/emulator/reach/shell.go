package reach

import (
	"fmt"
	"strings"
)

// shellCmd is one simple command of a shell script after quote removal.
type shellCmd struct {
	line    int      // 1-based line the command starts on
	raw     string   // the command's source text, for Unknown
	words   []string // argv
	redirs  []string // redirection targets (echo 1 > /proc/…)
	dynamic bool     // contains $ or ` expansions, whose value we cannot know
}

// splitShell splits a POSIX sh script into simple commands. It implements
// just enough of the shell grammar for the router script: single and double
// quotes, backslash escapes and line continuations, comments, the command
// separators ; & && | || and newlines, and output/input redirections.
// Control structures (if, for, functions, here-documents) are not
// understood; their lines come out as commands nobody recognises, which is
// what we want: they end up in RouterConfig.Unknown.
func splitShell(script string) ([]shellCmd, error) {
	const (
		normal = iota
		single
		double
	)
	var (
		cmds      []shellCmd
		cur       shellCmd
		word      strings.Builder
		inWord    bool
		redirNext bool
		state     = normal
		line      = 1
		quoteLine int
		startOff  = -1
		lastEnd   int
	)
	touch := func(i int) { // a byte at i belongs to the current command
		if !inWord {
			inWord = true
		}
		if startOff < 0 {
			startOff, cur.line = i, line
		}
		lastEnd = i + 1
	}
	flushWord := func() {
		if !inWord {
			return
		}
		w := word.String()
		word.Reset()
		inWord = false
		if redirNext {
			cur.redirs = append(cur.redirs, w)
			redirNext = false
			return
		}
		cur.words = append(cur.words, w)
	}
	endCmd := func() {
		flushWord()
		if len(cur.words) > 0 || len(cur.redirs) > 0 {
			cur.raw = strings.Join(strings.Fields(strings.ReplaceAll(script[startOff:lastEnd], "\\\n", " ")), " ")
			cmds = append(cmds, cur)
		}
		cur, startOff, redirNext = shellCmd{}, -1, false
	}
	n := len(script)
	for i := 0; i < n; i++ {
		c := script[i]
		switch state {
		case single:
			if c == '\'' {
				state = normal
				lastEnd = i + 1
				continue
			}
			if c == '\n' {
				line++
			}
			word.WriteByte(c)
			lastEnd = i + 1
			continue
		case double:
			switch {
			case c == '"':
				state = normal
				lastEnd = i + 1
			case c == '\\' && i+1 < n && strings.IndexByte("$`\"\\\n", script[i+1]) >= 0:
				i++
				if script[i] == '\n' {
					line++
				} else {
					word.WriteByte(script[i])
				}
				lastEnd = i + 1
			default:
				if c == '$' || c == '`' {
					cur.dynamic = true
				}
				if c == '\n' {
					line++
				}
				word.WriteByte(c)
				lastEnd = i + 1
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r':
			flushWord()
		case '\n':
			endCmd()
			line++
		case '\\':
			if i+1 >= n {
				continue
			}
			i++
			if script[i] == '\n' { // line continuation: not even a word break
				line++
				continue
			}
			touch(i - 1)
			word.WriteByte(script[i])
			lastEnd = i + 1
		case '\'', '"':
			touch(i)
			quoteLine = line
			if c == '\'' {
				state = single
			} else {
				state = double
			}
		case '#':
			if inWord {
				touch(i)
				word.WriteByte(c)
				continue
			}
			for i+1 < n && script[i+1] != '\n' {
				i++
			}
		case ';':
			endCmd()
		case '&', '|':
			endCmd()
			if i+1 < n && script[i+1] == c {
				i++
			}
		case '>', '<':
			// "2>" and friends: a word of digits right before the operator is
			// a file descriptor, not an argument.
			if inWord && isDigits(word.String()) {
				word.Reset()
				inWord = false
			} else {
				flushWord()
			}
			if startOff < 0 {
				startOff, cur.line = i, line
			}
			for i+1 < n && (script[i+1] == '>' || script[i+1] == '&') {
				i++
			}
			lastEnd = i + 1
			redirNext = true
		default:
			if c == '$' || c == '`' {
				cur.dynamic = true
			}
			touch(i)
			word.WriteByte(c)
		}
	}
	if state != normal {
		return nil, fmt.Errorf("line %d: unterminated quote", quoteLine)
	}
	endCmd()
	return cmds, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
