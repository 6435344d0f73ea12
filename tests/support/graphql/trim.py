# Usage: python3 trim.py Type1,Type2,... path/to/octokit/schema.graphql > schema.graphql (then prepend the header)
import re,sys
src=open(sys.argv[2] if len(sys.argv) > 2 else 'schema.graphql').read()
# strip descriptions
src=re.sub(r'"""(.|\n)*?"""\n','',src)
src=re.sub(r'^\s*"[^"\n]*"\n','',src,flags=re.M)
blocks={}
for m in re.finditer(r'^(type|interface|input|union|enum|scalar) (\w+)[^\n]*?(\{\n(?:.|\n)*?^\}|\n)',src,flags=re.M):
    blocks[m.group(2)]=m.group(0).rstrip()+"\n"
want=sys.argv[1].split(',')
out=[]
for w in want:
    if w not in blocks: print("missing",w,file=sys.stderr); continue
    out.append(blocks[w])
print("\n".join(out))
