import json,glob,sys,statistics as st
tag=sys.argv[1]
def load(t):
    rs=[json.load(open(f)) for f in sorted(glob.glob(f'/tmp/mp/prof-{tag}-t{t}-r*.json'))]
    return rs
a,b=load(1),load(2)
print('msPerStep t1',[round(r['msPerStep'],1) for r in a],'t2',[round(r['msPerStep'],1) for r in b])
print('kernelMs t1',[round(r['kernelMsPerStep'],1) for r in a],'t2',[round(r['kernelMsPerStep'],1) for r in b])
names=[k['kernel'] for k in a[0]['kernels']]
tot1=tot2=0
for n in names:
    m1=st.median([next((k['ms'] for k in r['kernels'] if k['kernel']==n),0) for r in a])
    m2=st.median([next((k['ms'] for k in r['kernels'] if k['kernel']==n),0) for r in b])
    calls=next(k['calls'] for k in a[0]['kernels'] if k['kernel']==n)
    if m1>0.1 or m2>0.1: print(f'{n[:36]:36s} {calls:6.0f} t1 {m1:6.2f} t2 {m2:6.2f}  x{m1/max(m2,1e-9):.2f}')
