"""How reports say things: Markdown tables pasted into papers and cards, counted nouns, sizes."""


def markdown_table(headers, rows):
    """A GitHub-flavoured Markdown table; `|` inside cells is escaped."""
    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def count(n, noun, plural=None):
    """`1 article`, `3 articles`; `plural` where adding an s is wrong."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def size(count_of_bytes):
    """A size for people: 512 B, 3.4 KB, 1.2 GB (1024 to a step)."""
    for unit in ("B", "KB", "MB", "GB"):
        if count_of_bytes < 1024 or unit == "GB":
            return f"{count_of_bytes:.0f} {unit}" if unit == "B" else f"{count_of_bytes:.1f} {unit}"
        count_of_bytes /= 1024
