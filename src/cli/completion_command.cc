// `vsl completion bash|commands` (hidden): what the build installs, made from
// the command tree itself so it never drifts from the flags.
//  bash      the bash completion script (/usr/share/bash-completion/completions/vsl)
//  commands  every command path, one a line ("farm", "farm apply"); a man
//            page is made for each top-level one
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace vsl::cli {
namespace {

std::vector<CLI::App*> Visible(CLI::App& app) {
  return app.get_subcommands([](CLI::App* sub) { return !sub->get_group().empty(); });
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// One `case` arm per command path: its subcommands, its flags, and the flags
// that take a value (after which bash completes file names).
void EmitCases(CLI::App& app, const std::string& path, std::string* words, std::string* valued,
               std::string* known) {
  std::vector<std::string> subs, flags, takes;
  for (CLI::App* sub : Visible(app)) subs.push_back(sub->get_name());
  for (const CLI::Option* opt : app.get_options()) {
    std::vector<std::string> names;
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
    for (const auto& s : opt->get_snames()) names.push_back("-" + s);
    if (names.empty()) continue;  // a positional
    flags.insert(flags.end(), names.begin(), names.end());
    if (opt->get_expected_min() > 0) takes.insert(takes.end(), names.begin(), names.end());
  }
  std::vector<std::string> all = subs;
  all.insert(all.end(), flags.begin(), flags.end());
  *words += "    \"" + path + "\") words=\"" + Join(all) + "\" ;;\n";
  if (!takes.empty()) *valued += "    \"" + path + "\") valued=\" " + Join(takes) + " \" ;;\n";
  for (CLI::App* sub : Visible(app)) {
    std::string p = path.empty() ? sub->get_name() : path + " " + sub->get_name();
    *known += " \"" + p + "\"";
    EmitCases(*sub, p, words, valued, known);
  }
}

std::string BashScript(CLI::App& root) {
  std::string words, valued, known;
  EmitCases(root, "", &words, &valued, &known);
  std::string s;
  s += "# bash completion for vsl; made by `vsl completion bash` from the command tree.\n";
  s += "_vsl() {\n";
  s += "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path=\"\" i w\n";
  s += "  local -a known=(" + known + " )\n";
  s += "  for ((i = 1; i < COMP_CWORD; i++)); do\n";
  s += "    w=${COMP_WORDS[i]}\n";
  s += "    [[ $w == -* ]] && continue\n";
  s += "    local next=${path:+$path }$w k\n";
  s += "    for k in \"${known[@]}\"; do [[ $k == \"$next\" ]] && path=$next && break; done\n";
  s += "  done\n";
  s += "  local valued=\"\" words=\"\"\n";
  s += "  case \"$path\" in\n" + valued + "  esac\n";
  s += "  # After a flag that takes a value: bash's own (file name) completion.\n";
  s += "  if [[ $prev == -* && $valued == *\" $prev \"* ]]; then COMPREPLY=(); return 0; fi\n";
  s += "  case \"$path\" in\n" + words + "  esac\n";
  s += "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n";
  s += "}\n";
  s += "complete -o default -F _vsl vsl\n";
  return s;
}

void PrintPaths(CLI::App& app, const std::string& prefix) {
  for (CLI::App* sub : Visible(app)) {
    std::string path = prefix + sub->get_name();
    printf("%s\n", path.c_str());
    PrintPaths(*sub, path + " ");
  }
}

}  // namespace

void AddCompletionCommand(CLI::App& app, RunFn* run) {
  CLI::App* cmd = app.add_subcommand("completion", "shell completion and the command list, for packaging");
  cmd->group("");  // hidden from --help
  auto what = std::make_shared<std::string>();
  cmd->add_option("what", *what, "bash: the completion script; commands: every command path")
      ->required()
      ->check(CLI::IsMember({"bash", "commands"}));
  CLI::App* root = &app;
  cmd->callback([run, what, root] {
    *run = [what, root] {
      if (*what == "bash") {
        fputs(BashScript(*root).c_str(), stdout);
      } else {
        PrintPaths(*root, "");
      }
      return kExitOk;
    };
  });
}

}  // namespace vsl::cli
