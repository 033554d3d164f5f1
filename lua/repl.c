/* Placeholder until the REPL lands. */
typedef int ol_repl_placeholder;
