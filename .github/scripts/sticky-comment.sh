#!/usr/bin/env bash
# Post BODY_FILE on pull request PR, or edit the comment posted there before: the one by
# github-actions[bot] whose body starts with the same first line (the hidden marker). One plan
# comment per pull request however often it is pushed. Needs GH_TOKEN (pull-requests: write) and
# GITHUB_REPOSITORY; gh is installed on GitHub's runners.
#
#   sticky-comment.sh PR BODY_FILE
set -euo pipefail

if [[ $# -ne 2 || ! "$1" =~ ^[0-9]+$ || ! -f "$2" ]]; then
  echo "usage: sticky-comment.sh PR_NUMBER BODY_FILE" >&2
  exit 2
fi
pr="$1"
body="$2"
marker="$(head -n 1 "$body")"
if [[ "$marker" != "<!--"*"-->" ]]; then
  echo "$body: the first line must be the hidden marker (<!-- ... -->)" >&2
  exit 2
fi

# Only the bot's own comment: anyone can post a comment that starts with the marker.
existing="$(
  gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$pr/comments" \
    --jq ".[] | select(.user.login == \"github-actions[bot]\") | select(.body | startswith(\"$marker\")) | .id" |
    head -n 1
)"
if [[ -n "$existing" ]]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" -F "body=@$body" --jq .html_url
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pr/comments" -F "body=@$body" --jq .html_url
fi
